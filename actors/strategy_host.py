"""The strategy host: one actor per (strategy, instrument), running a strategy on its bars.

The host is plumbing around a :class:`~engine.strategy_runner.StrategyRunner` (which keeps the
bar window, computes the indicators and builds the signals): it subscribes to the instrument's
bars, fills and (if the strategy wants them) ticks, fetches warm-up bars, keeps the runner's
snapshot in the :class:`~engine.strategy_vault.StrategyVault` after every hook, and applies
reloads at bar boundaries. Signals are published on ``signals`` for the ranker.

Scenario → outcome:

=======================================  ====================================================
scenario                                 outcome
=======================================  ====================================================
first start (nothing in the vault)       asks its :class:`~engine.bar_history.BarHistory`
                                         for the ``warmup_bars`` latest bars closed by now;
                                         live bars arriving meanwhile wait. When the bars
                                         come (or ``warmup_timeout_ns`` passes, or there is no
                                         history), they fill the window without hooks, then
                                         ``on_start``, then the waiting bars in order.
                                         Signals are held back until the runner is warm
start after the process restarted        as above, and the strategy's state is restored from
                                         the snapshot the last process saved
restart after a crash (same process)     the window is rebuilt from the bars the previous
                                         incarnation handled (kept in the vault: no database
                                         read), the state restored from the snapshot taken
                                         after the last hook that completed, so it equals the
                                         state before the crash; the bar whose hook raised is
                                         handled again (at most ``poison_after`` times)
a bar of its interval                    ``on_bar`` (after ``on_session_open`` if the bar
                                         opens a new session); snapshot saved; bar kept
a bar of another interval, or a bar      ignored by the runner (counted there)
not newer than the last one
a fill on ``fills:<instrument>`` for     ``on_fill`` (position updated first); snapshot
this strategy
a fill of another strategy               ignored
ticks (``wants_ticks`` only)             ``on_tick`` per tick, a ``TickBatch`` in order
a timer the strategy set                 ``on_timer(key)``
the session's close time passes          ``on_session_close`` once (needs ``sessions``)
``ReloadStrategy``                       parameters checked at once (refused: the answer
                                         says why; nothing changes); applied before the next
                                         bar: a new strategy with them, indicators warmed
                                         from the bars kept, ``state`` and position carried;
                                         ``StrategyReloaded`` published on ``strategies``
=======================================  ====================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog

from engine.actor import Actor, handles
from engine.bar_history import BarHistory
from engine.context import Context, Timer
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick
from engine.messages.ranking import TOPIC_SIGNALS
from engine.messages.strategy import (
    TOPIC_STRATEGIES,
    ReloadStrategy,
    StrategyReloaded,
    host_name,
)
from engine.messages.trading import OrderFilled, Signal, fills_topic
from engine.strategy import Strategy, StrategyParams
from engine.strategy_runner import StrategyRunner, utc_day
from engine.strategy_vault import HostMemory, StrategyVault

SECOND_NS = 1_000_000_000
DEFAULT_WARMUP_TIMEOUT_NS = 30 * SECOND_NS

SessionBounds = Callable[[int], tuple[int, int] | None]
"""``ts_ns -> (open_ns, close_ns)`` of the trading session containing ``ts_ns``, or
``None`` outside any session."""


@dataclass(frozen=True)
class StrategyPlan:
    """What one host runs: a strategy class with checked parameters, on one instrument's
    bars of one interval."""

    strategy_id: str
    """The name signals carry (the configuration's ``id``, by default the strategy's name)."""
    strategy: type[Strategy[Any]]
    params: StrategyParams
    instrument: str
    interval: str

    @property
    def name(self) -> str:
        """The host's actor name."""
        return host_name(self.strategy_id, self.instrument)

    def make(self) -> Strategy[Any]:
        return self.strategy(self.params)

    def with_params(self, params: dict[str, Any]) -> StrategyPlan:
        """The same plan with ``params`` decoded into the strategy's parameter type. Raises
        ``ValueError`` naming the parameter and the problem."""
        return StrategyPlan(
            self.strategy_id,
            self.strategy,
            decode_params(self.strategy, params),
            self.instrument,
            self.interval,
        )


def decode_params(strategy: type[Strategy[Any]], params: dict[str, Any]) -> StrategyParams:
    """``params`` as the strategy's ``Params``; ``ValueError`` naming the strategy and what is
    wrong (unknown name, wrong type, a value its checks refuse)."""
    try:
        return msgspec.convert(params, strategy.Params, strict=False)
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise ValueError(f"strategy {strategy.name!r}: {exc}") from None


def check_plan(plan: StrategyPlan) -> None:
    """Raise ``ValueError`` (naming the problem) if ``plan`` cannot run: its strategy or its
    indicators refuse the parameters. Builds a runner and throws it away."""
    try:
        StrategyRunner(
            plan.make(),
            strategy_id=plan.strategy_id,
            instrument=plan.instrument,
            interval=plan.interval,
            emit=lambda _signal: None,
            clock=lambda: 0,
            schedule=lambda _delay, _key: None,
            log=structlog.get_logger("troupe.strategy_check"),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"strategy {plan.strategy.name!r}: {exc}") from None


class ReloadAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A host's answer to :class:`ReloadStrategy`: the parameters as they will apply
    (defaults filled in), or why they were refused (nothing changed then)."""

    applied: dict[str, Any] | None = None
    refused: str | None = None


class _WarmupBars(msgspec.Struct, frozen=True):
    incarnation: int
    bars: list[Bar]


class _WarmupTimedOut(msgspec.Struct, frozen=True):
    pass


class _StrategyTimer(msgspec.Struct, frozen=True):
    key: str


class _SessionCloseDue(msgspec.Struct, frozen=True):
    close_ns: int


class _HostSession(msgspec.Struct):
    """The session the host last opened, kept across incarnations (a restart mid-session
    must not open it again and reset the strategy's session state)."""

    open_ns: int
    close_ns: int
    closed: bool = False


class StrategyHost(Actor):
    """Runs ``plan`` (see the module docstring). ``vault`` is shared by the process's hosts;
    ``history`` supplies warm-up bars (``None``: warm up on live bars only); ``sessions``
    gives session bounds for the session hooks (``None``: no session hooks);
    ``tick_size`` rounds signal prices."""

    def __init__(
        self,
        plan: StrategyPlan,
        *,
        vault: StrategyVault,
        history: BarHistory | None = None,
        sessions: SessionBounds | None = None,
        tick_size: float | None = None,
        warmup_timeout_ns: int = DEFAULT_WARMUP_TIMEOUT_NS,
    ) -> None:
        self.plan = plan
        self.vault = vault
        self.history = history
        self.sessions = sessions
        self.tick_size = tick_size
        self.warmup_timeout_ns = warmup_timeout_ns
        self.key = plan.name

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.memory: HostMemory = self.vault.memory(self.key)
        self.timers: dict[str, Timer] = {}
        self.waiting: list[Bar] = []
        self.next_plan: StrategyPlan | None = None
        if isinstance(self.memory.plan, StrategyPlan):  # a reload outlives a restart
            self.plan = self.memory.plan
        self.runner = self._runner(self.plan)
        self.memory.keep_at_most(self.runner.capacity)
        instrument = self.plan.instrument
        ctx.subscribe(f"bars:{instrument}")
        ctx.subscribe(fills_topic(instrument))
        if self.plan.strategy.wants_ticks:
            ctx.subscribe(f"ticks:{instrument}")
        self.warming = True
        if self.memory.bars:
            self._warmed(list(self.memory.bars), kept=True)
            return
        if self.history is None or self.runner.warmup_bars == 0:
            self._warmed([])
            return
        incarnation, send, me = ctx.incarnation, ctx.send, ctx.name
        ctx.schedule_once(self.warmup_timeout_ns, _WarmupTimedOut())
        self.history.fetch(
            instrument,
            self.plan.interval,
            self.runner.warmup_bars,
            ctx.now_ns(),
            lambda bars: send(me, _WarmupBars(incarnation, bars)),
        )

    def _runner(self, plan: StrategyPlan) -> StrategyRunner:
        return StrategyRunner(
            plan.make(),
            strategy_id=plan.strategy_id,
            instrument=plan.instrument,
            interval=plan.interval,
            emit=self._emit,
            clock=self.ctx.now_ns,
            schedule=self._schedule,
            log=self.ctx.log,
            tick_size=self.tick_size,
            session_of=self._session_key,
        )

    def _session_key(self, ts_ns: int) -> int:
        # A bar's session: the open of its exchange session when the host knows the
        # calendar (session VWAP, opening ranges), else its UTC day.
        bounds = self.sessions(ts_ns) if self.sessions is not None else None
        return bounds[0] if bounds is not None else utc_day(ts_ns)

    @handles(_WarmupBars)
    def on_warmup_bars(self, message: _WarmupBars) -> None:
        if self.warming and message.incarnation == self.ctx.incarnation:
            self._warmed(message.bars)

    @handles(_WarmupTimedOut)
    def on_warmup_timed_out(self, _message: _WarmupTimedOut) -> None:
        if self.warming:
            self.ctx.log.warning("no warm-up bars in time; warming up on live bars")
            self._warmed([])

    def _warmed(self, history: list[Bar], *, kept: bool = False) -> None:
        """Fill the window from ``history`` (``kept``: the vault's own bars), restore the
        state, start, then handle the bars that waited (those already in the history are
        skipped by :meth:`on_bar`)."""
        self.warming = False
        runner = self.runner
        runner.warm_up(history)
        if not kept:
            self.memory.bars.extend(history)
        if self.memory.snapshot is not None:
            try:
                runner.restore(self.memory.snapshot)
            except ValueError as exc:  # another strategy or parameters: start afresh
                self.ctx.log.warning("saved state not restored", error=str(exc))
        runner.start()
        self._save()
        waiting, self.waiting = self.waiting, []
        for bar in waiting:
            self.on_bar(bar)

    # -- bars, ticks, fills, timers ----------------------------------------------------------

    @handles(Bar)
    def on_bar(self, bar: Bar) -> None:
        if self.warming:
            self.waiting.append(bar)
            return
        if bar.interval != self.plan.interval or bar.instrument != self.plan.instrument:
            return
        kept = self.memory.bars
        if kept and bar.ts_event <= kept[-1].ts_event:
            return  # already handled (a replay after a restart)
        if self.next_plan is not None:
            self._apply_reload(self.next_plan)
        if self.sessions is not None:
            self._follow_session(bar.ts_event)
        self.runner.on_bar(bar)  # a strategy error propagates: the supervisor restarts us
        kept.append(bar)
        self._save()

    @handles(TickBatch)
    def on_ticks(self, batch: TickBatch) -> None:
        if self.warming:
            return  # ticks are not kept for later: a strategy decides on fresh ones only
        for tick in batch.ticks:
            self.runner.on_tick(tick)
        if self.runner.changed_since_snapshot():  # most ticks change nothing worth saving
            self._save()

    @handles(TradeTick, QuoteTick)
    def on_tick(self, tick: TradeTick | QuoteTick) -> None:
        if not self.warming:
            self.runner.on_tick(tick)
            if self.runner.changed_since_snapshot():
                self._save()

    @handles(OrderFilled)
    def on_fill(self, fill: OrderFilled) -> None:
        if fill.strategy != self.plan.strategy_id or fill.instrument != self.plan.instrument:
            return
        self.runner.on_fill(fill)
        self._save()

    @handles(_StrategyTimer)
    def on_timer(self, timer: _StrategyTimer) -> None:
        self.timers.pop(timer.key, None)
        if not self.warming:
            self.runner.on_timer(timer.key)
            self._save()

    def _schedule(self, delay_ns: int, key: str) -> None:
        previous = self.timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        self.timers[key] = self.ctx.schedule_once(max(0, delay_ns), _StrategyTimer(key))

    def _emit(self, signal: Signal) -> None:
        self.ctx.publish(TOPIC_SIGNALS, signal)

    def _save(self) -> None:
        self.vault.save(self.key, self.runner.snapshot(), self.ctx.now_ns())

    # -- sessions ----------------------------------------------------------------------------

    def _follow_session(self, ts_ns: int) -> None:
        assert self.sessions is not None
        bounds = self.sessions(ts_ns)
        if bounds is None:
            return
        session = self._session()
        if session is not None and session.open_ns == bounds[0]:
            return
        if session is not None and not session.closed:
            self._close_session(session)
        opened = _HostSession(open_ns=bounds[0], close_ns=bounds[1])
        self._keep_session(opened)
        self.runner.session_open(opened.open_ns)
        delay = opened.close_ns - self.ctx.now_ns()
        self.ctx.schedule_once(max(0, delay), _SessionCloseDue(opened.close_ns))

    @handles(_SessionCloseDue)
    def on_session_close_due(self, due: _SessionCloseDue) -> None:
        session = self._session()
        if session is not None and session.close_ns == due.close_ns and not session.closed:
            self._close_session(session)
            self._save()

    def _close_session(self, session: _HostSession) -> None:
        session.closed = True
        self._keep_session(session)
        self.runner.session_close(session.close_ns)

    def _session(self) -> _HostSession | None:
        return self.memory.session if isinstance(self.memory.session, _HostSession) else None

    def _keep_session(self, session: _HostSession) -> None:
        self.memory.session = session

    # -- reload ------------------------------------------------------------------------------

    @handles(ReloadStrategy)
    def on_reload(self, command: ReloadStrategy) -> ReloadAnswer:
        """Check the parameters now; apply them before the next bar. A refusal is an answer,
        not an error: a handler that raised would count as a crash."""
        try:
            plan = self.plan.with_params(command.params)
            check_plan(plan)
        except ValueError as exc:
            return ReloadAnswer(refused=str(exc))
        self.next_plan = plan
        return ReloadAnswer(applied=msgspec.to_builtins(plan.params))

    def _apply_reload(self, plan: StrategyPlan) -> None:
        old = self.runner
        runner = self._runner(plan)
        runner.warm_up(old.kept_bars())
        runner.carry_over(old)
        runner.start()
        self.runner, self.plan, self.next_plan = runner, plan, None
        self.memory.plan = plan
        self.memory.keep_at_most(runner.capacity)
        now = self.ctx.now_ns()
        params: dict[str, Any] = msgspec.to_builtins(plan.params)
        self.ctx.log.info("strategy reloaded", params=params)
        self.ctx.publish(
            TOPIC_STRATEGIES,
            StrategyReloaded(
                ts_event=now,
                ts_init=now,
                strategy_id=plan.strategy_id,
                instrument=plan.instrument,
                params=params,
            ),
        )
