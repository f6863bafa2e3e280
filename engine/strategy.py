"""The strategy interface: what a strategy is, what it sees, and what it may do.

A strategy is a plain class that decides, bar by bar, whether it wants a trade in one
instrument. It never talks to actors, clocks or the network: the strategy host
(:mod:`actors.strategy_host`) runs it through a :class:`StrategyRunner`
(:mod:`engine.strategy_runner`), which keeps the bars, computes the indicators the strategy
declared (TA-Lib on rolling numpy buffers: :mod:`engine.indicators`), holds signals back until
the indicators are warm, and saves the strategy's ``state`` after every hook so that a restart
picks up where it left off.

Writing one (``troupe new-strategy NAME`` writes this template with a test)::

    class BreakoutParams(StrategyParams, frozen=True, kw_only=True):
        lookback: int = 20

    class Breakout(Strategy[BreakoutParams]):
        name = "breakout"
        summary = "Buy a close above the highest high of the last `lookback` bars."
        rule = "on bar t's close: buy when close[t] > max(high[t-lookback..t-1])"
        Params = BreakoutParams

        def indicators(self) -> Mapping[str, Indicator]:
            return {"hh": highest(self.params.lookback, source="high")}

        def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
            if bar.close > ctx.value("hh", ago=1):
                ctx.signal(OrderSide.BUY, strength=1.0, reason="close above the range")

and in the configuration::

    [[strategies]]
    use = "my_package.breakout:Breakout"   # or a built-in name: "sma_cross"
    instruments = ["NSE:INFY"]
    interval = "1m"
    params = { lookback = 30 }

Rules a strategy keeps: it decides from what its context gives it (bars up to the current one,
indicator values, its own ``state``, its position), so a backtest and a live day agree; it
keeps whatever must survive a restart in ``self.state`` (JSON-like values only: numbers,
strings, booleans, ``None``, lists and dicts of them); it raises on a bug rather than hiding
it (the host's supervisor restarts it with its last saved state).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import msgspec

from engine.messages.market import Bar, QuoteTick, TradeTick
from engine.messages.trading import OrderFilled, OrderSide, Signal

if TYPE_CHECKING:
    import numpy as np
    import structlog

    from engine.indicators import Indicator


class StrategyParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every strategy's parameters. A subclass declares each parameter with its type
    and default; the configuration's ``params`` table is decoded into it, so a wrong type or
    an unknown name is refused with the name. A subclass may add ``__post_init__`` checks
    (raise ``ValueError`` naming the value and what is allowed)."""

    long_only: bool = True
    """Built-in strategies only go long unless this is ``false``: a sell signal then means
    "exit", and is still emitted (the risk supervisor lets it close a long, never open a
    short)."""


P = TypeVar("P", bound=StrategyParams)


class StrategyContext(Protocol):
    """What a strategy's hooks see and may do. Implemented by the runner; a fresh view of
    the instrument at each call."""

    instrument: str
    interval: str
    """The bar interval the strategy runs on (``"1m"``)."""

    @property
    def log(self) -> structlog.typing.FilteringBoundLogger: ...

    def now_ns(self) -> int:
        """The engine's clock (simulated in a backtest), ns since the epoch, UTC."""
        ...

    @property
    def warm(self) -> bool:
        """True once every declared indicator has its warm-up length of bars behind it;
        signals are held back (and logged at debug) until then."""
        ...

    @property
    def session(self) -> int:
        """Key of the current bar's trading session: the same for every bar of one session,
        different for the next (by default the UTC date of the bar's start as days since the
        epoch; a host that knows the market calendar may key by the exchange date). Lets a
        strategy reset per-session state; session VWAP restarts when it changes."""
        ...

    @property
    def position(self) -> int:
        """Signed units the strategy holds in the instrument, from its fills (> 0 long)."""
        ...

    @property
    def bar_count(self) -> int:
        """Bars seen so far, warm-up included."""
        ...

    def value(self, name: str, ago: int = 0) -> float:
        """The declared indicator ``name`` (an output of a multi-output one is
        ``"name.output"``, for example ``"macd.hist"``) at the current bar (``ago=0``) or
        ``ago`` bars before; NaN where it has no value yet. Raises ``KeyError`` naming the
        declared names for an unknown one."""
        ...

    def values(self, name: str) -> np.ndarray:
        """The indicator's values over the bars kept, oldest first (a read-only view)."""
        ...

    def series(self, field: str) -> np.ndarray:
        """A bar field (``open``, ``high``, ``low``, ``close``, ``volume``, ``vwap``) over the
        bars kept, oldest first (a read-only view)."""
        ...

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
        """Ask for a trade. Prices are rounded to the instrument's tick when known;
        ``strength`` is clipped to ``[0, 1]``; ``valid_for_ns`` counts from now (default: one
        bar). Returns the signal published, or ``None`` while not warm."""
        ...

    def schedule(self, delay_ns: int, key: str) -> None:
        """Call ``on_timer(ctx, key)`` once after ``delay_ns`` (a later call with the same key
        replaces the earlier one)."""
        ...


class Strategy(abc.ABC, Generic[P]):
    """A trading rule for one instrument. Subclasses set the class attributes and override
    the hooks they need; every hook is optional but ``on_bar`` is the usual one."""

    name: ClassVar[str]
    """The name used in configuration and in signals (``"sma_cross"``)."""
    summary: ClassVar[str]
    """One line for ``troupe list-strategies``."""
    rule: ClassVar[str]
    """The exact rule, as a trader would check it by hand."""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    wants_ticks: ClassVar[bool] = False
    """Opt in to ``on_tick`` (ticks cost far more calls than bars)."""

    def __init__(self, params: P) -> None:
        self.params = params
        self.state: dict[str, Any] = {}
        """What must survive a restart; saved by the host after every hook."""

    def indicators(self) -> Mapping[str, Indicator]:
        """The indicators to compute on every bar, by the names ``ctx.value`` takes."""
        return {}

    def min_bars(self) -> int:
        """Bars needed before signals, beyond what the indicators need (0 by default)."""
        return 0

    # -- hooks --------------------------------------------------------------------------------

    def on_start(self, ctx: StrategyContext) -> None:
        """After warm-up (and after ``state`` was restored on a restart)."""

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        """A bar of the strategy's interval closed; indicators include it."""

    def on_tick(self, ctx: StrategyContext, tick: TradeTick | QuoteTick) -> None:
        """A tick of the instrument (only with ``wants_ticks = True``)."""

    def on_fill(self, ctx: StrategyContext, fill: OrderFilled) -> None:
        """An order of this strategy filled (``ctx.position`` already includes it)."""

    def on_timer(self, ctx: StrategyContext, key: str) -> None:
        """A timer set with ``ctx.schedule`` fired."""

    def on_session_open(self, ctx: StrategyContext, session_open_ns: int) -> None:
        """The instrument's trading session opened (before its first bar)."""

    def on_session_close(self, ctx: StrategyContext, session_close_ns: int) -> None:
        """The instrument's trading session closed (after its last bar)."""


def describe_params(params_type: type[StrategyParams]) -> list[tuple[str, str, Any]]:
    """``(name, type, default)`` of each parameter, for ``troupe list-strategies``."""
    info = msgspec.inspect.type_info(params_type)
    assert isinstance(info, msgspec.inspect.StructType)
    rows = []
    for field in info.fields:
        default = field.default if field.default is not msgspec.NODEFAULT else None
        rows.append((field.name, _type_name(field.type), default))
    return rows


_SIMPLE_TYPE_NAMES: dict[type[msgspec.inspect.Type], str] = {
    msgspec.inspect.IntType: "int",
    msgspec.inspect.FloatType: "float",
    msgspec.inspect.BoolType: "bool",
    msgspec.inspect.StrType: "str",
}


def _type_name(kind: msgspec.inspect.Type) -> str:
    # Looked up by exact type rather than isinstance in a loop: mypy narrows ``kind`` to
    # nothing after an isinstance against a ``type[Type]`` and flags the rest as unreachable.
    simple = _SIMPLE_TYPE_NAMES.get(type(kind))
    if simple is not None:
        return simple
    if isinstance(kind, msgspec.inspect.LiteralType):
        return " | ".join(repr(value) for value in kind.values)
    return type(kind).__name__.removesuffix("Type").lower()
